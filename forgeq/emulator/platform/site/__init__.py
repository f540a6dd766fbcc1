"""The fake product site: Jira and Confluence behind requestJira, requestConfluence, requestGraph and fetch.

service.py (Site: one request, from egress and stubs to rate limits and the answer), jira.py
(issues) with jira_comments.py (comments, properties) and jira_search.py (JQL search, users,
projects), confluence.py (pages, content properties), jql.py (the JQL subset), shapes.py (REST representations),
data.py (objects over the loop's unacknowledged writes), calls.py (a request, routes), limits.py
(rate limits by era), stubs.py (stubs.yml and the testing API's stubs), egress.py (the manifest's
fetch permissions). The site's SQL is in store/site.py; what product events seed is products/seeds.py.
"""
