"""Custom actions of the Trailhead Supply Co. assistant (run by `rasa run actions`)."""
