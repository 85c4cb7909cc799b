"""Command messages, their handlers, and the event-sourced application that saves them."""
