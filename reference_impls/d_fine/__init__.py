"""D-FINE (arXiv 2410.13842): fine-grained distribution refinement and the FGL loss on synthetic boxes."""
