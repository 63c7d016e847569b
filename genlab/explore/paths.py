"""Compatibility shim: keyframe parsing lives in ``genlab.views.interpolate``."""
from genlab.views.interpolate import MAX_KEYFRAMES, parse_keyframe_text

__all__ = ["parse_keyframe_text", "MAX_KEYFRAMES"]
