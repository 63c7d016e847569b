"""genlab: explore the latent spaces of pretrained DCGAN and VAE image models.

Notebook use::

    import genlab
    m = genlab.load("mnist-dcgan")
    m.sample(16, seed=0)          # a PIL image grid
"""
from genlab.api import Model, load
from genlab.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from genlab.engine import Engine, pick_device
from genlab.registry import Registry

__all__ = ["Model", "load", "CheckpointError", "load_checkpoint", "save_checkpoint", "Engine", "pick_device", "Registry"]
