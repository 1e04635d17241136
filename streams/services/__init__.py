"""Use-cases shared by the API, the dashboard and the command line: reports, cases, actions, members.

They read the replicated views (the same on every worker), publish to topics, and raise `ServiceError` naming
the field at fault; the web views only translate HTTP to and from them.
"""
