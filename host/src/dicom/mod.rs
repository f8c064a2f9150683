//! The DICOM server (C-ECHO, MWL C-FIND, MPPS) and our own SCU.
