"""The base everything stands on: settings, database engine, storage, realtime, errors.

`core` imports no other part of AuraStudio.
"""
