"""Jobs as a whole: run a workflow as a new job, resume one, work its dead-letter queue."""
