"""hpa: Human Protein Atlas image classification with minidl."""
