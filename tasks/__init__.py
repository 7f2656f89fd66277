"""Pipeline steps: one package per step; its __init__ holds the Prefect task."""
