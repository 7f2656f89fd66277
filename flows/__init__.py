"""Flows that compose the pipeline tasks."""
