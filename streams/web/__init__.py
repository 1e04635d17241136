"""HTTP views of the worker: JSON API, webhooks, dashboard and reporter form."""
