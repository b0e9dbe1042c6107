"""FreeTalker toy: one motion diffusion model for speech- and text-driven clips, CFG per clip, DoubleTake."""
