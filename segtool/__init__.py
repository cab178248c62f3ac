"""segtool: audience segmentation over flat files."""

__version__ = "0.1.0"
