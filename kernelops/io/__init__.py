"""Reading and writing kernelops files (checkpoints)."""

from kernelops.io.checkpoint import load_checkpoint, plugin_record, require_plugins, save_checkpoint

__all__ = ["load_checkpoint", "plugin_record", "require_plugins", "save_checkpoint"]
