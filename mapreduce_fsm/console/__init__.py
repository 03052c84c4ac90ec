"""What a person at a terminal sees and answers: the progress display and the prompts."""
