//! Prompt building: language tags and instructions, chat templates (being written).
