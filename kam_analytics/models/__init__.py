"""scikit-learn estimators (segmentation, churn) following sklearn conventions."""
