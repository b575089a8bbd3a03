"""Private analytics: differentially private aggregates within a privacy budget, and
k-anonymity / l-diversity for tabular exports."""
