"""LlamaFactory (arXiv 2403.13372): LoRA, freeze-tuning and full fine-tuning on a toy network."""
