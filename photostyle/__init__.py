"""photostyle: photorealistic style transfer (Deep Photo Style Transfer, Luan et al. 2017) in PyTorch."""

__version__ = "0.1.0"
