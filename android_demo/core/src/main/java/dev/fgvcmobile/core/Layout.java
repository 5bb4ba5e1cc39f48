package dev.fgvcmobile.core;

/** Order of a batch-1 image tensor's axes. */
public enum Layout {
    NHWC,
    NCHW
}
