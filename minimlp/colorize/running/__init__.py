"""Running the colorizer: training a run, predicting and scoring, photos of any size, figures."""
