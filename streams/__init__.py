"""The relay from the event store to Kafka, and the Faust app that feeds projectors."""
