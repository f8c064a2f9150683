//! The JSON configuration: parsing, legacy conversion, validation.
