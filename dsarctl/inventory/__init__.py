"""The inventory: where personal data lives (inventory.yaml)."""

from .loader import default_inventory_path, load_inventory, load_settings
from .model import Collection, Controller, EraseRule, Inventory, System

__all__ = ["Collection", "Controller", "EraseRule", "Inventory", "System", "default_inventory_path", "load_inventory", "load_settings"]
