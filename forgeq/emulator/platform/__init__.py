"""What handler calls reach: the platform services behind Forge's packages.

storage.py (the key-value store, as @forge/kvs reaches it), entities.py (custom entities and their
queries), conditions.py (their where and filter conditions), transactions.py (kvs.transact()), quota.py
(storage quotas by era), event_limits.py (500 pushed events a minute, the cyclic-invocation limit),
queues.py (the async-events endpoints' own checks of a push, stats or cancel request), api.py (the
HTTP answers to requests of Forge's own JavaScript packages), site/ (the fake Jira and Confluence
behind product requests and fetch, with their rate limits and stubs). A new platform service goes
here, as its own module.

Imports: the shared modules, the store, the app, products, the port (forgeq.runtime) and the SDK's
public errors and validation (forgeq.events, forgeq.kvs). Never the loop: the invocation a service
works for comes in as an argument.
"""
