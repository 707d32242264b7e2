"""The shopping-cart example: an event-sourced entity served with the Cloudstate Python SDK."""
