package dev.fgvcmobile.core;

/**
 * A problem with the model, its manifest or an input that the user must see as one line
 * (the app shows the message verbatim; the Python CLI has the same policy with FGVCError).
 */
public class FgvcException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public FgvcException(String message) {
        super(message);
    }

    public FgvcException(String message, Throwable cause) {
        super(message, cause);
    }
}
