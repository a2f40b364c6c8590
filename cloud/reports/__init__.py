"""Patient reports: lab panels, imaging text reports and their print history."""
