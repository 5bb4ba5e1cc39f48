package dev.fgvcmobile.core;

import java.util.Locale;

/** Element types a manifest may name for the model's input or output tensor. */
public enum DType {
    FLOAT32("float32", 4, 0, 0),
    FLOAT16("float16", 2, 0, 0),
    UINT8("uint8", 1, 0, 255),
    INT8("int8", 1, -128, 127);

    public final String jsonName;
    public final int bytes;
    /** Representable range of an integer type (unused for floats). */
    public final int min;
    public final int max;

    DType(String jsonName, int bytes, int min, int max) {
        this.jsonName = jsonName;
        this.bytes = bytes;
        this.min = min;
        this.max = max;
    }

    public boolean isInteger() {
        return this == UINT8 || this == INT8;
    }

    /** The manifest spelling ("float32", "uint8", ...); null if the name is unknown. */
    public static DType fromName(String name) {
        if (name == null) {
            return null;
        }
        String n = name.toLowerCase(Locale.ROOT);
        for (DType t : values()) {
            if (t.jsonName.equals(n)) {
                return t;
            }
        }
        return null;
    }
}
