"""Product events and scheduled triggers: the payloads Jira and Confluence send (templates/), the
trigger filters (a Jira-expression subset, never eval), firing events into the store, fanning a
claimed product event out to its triggers, and the scheduledTrigger calendar.

Imports: the shared modules, the store, the app (its manifest).
"""
