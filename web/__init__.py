"""The trainer's face: a browser softphone, the live diagram, call history and analytics."""
