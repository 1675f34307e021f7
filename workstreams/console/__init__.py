"""The agent console: the pages agents answer customers from, reached from the admin.

Views parse the request, call the same services as the REST API and render the outcome; every
rule is the services' (a refusal shows the service's own message). Live updates come from two
small JSON endpoints the pages poll every two seconds.
"""
