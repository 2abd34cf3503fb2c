"""Shared plumbing for the Task Manager services. Nothing here knows about a particular service."""
