"""The request/response values and Status errors the verbs and the HTTP layer share."""
