package dev.fgvcmobile.core;

import java.util.Arrays;
import java.util.List;

/**
 * Reconciles the manifest with what the loaded model reports about its input and output
 * tensors, and refuses a pair that disagrees, with a message the UI shows as is. The model's
 * own quantization parameters win over the manifest's copy when both exist and agree.
 */
public final class ModelContract {
    public final InputFormat input;
    public final OutputFormat output;
    public final List<String> labels;

    private ModelContract(InputFormat input, OutputFormat output, List<String> labels) {
        this.input = input;
        this.output = output;
        this.labels = labels;
    }

    /** The contract taken from the manifest alone (the JVM tests; a runtime without introspection). */
    public static ModelContract fromManifest(Manifest m) {
        return resolve(m, TensorInfo.ofManifestInput(m), TensorInfo.ofManifestOutput(m), m.modelFile);
    }

    /** Refuse a manifest describing another format than the runtime runs (e.g. an ONNX export). */
    public static void requireFormat(Manifest m, String format) {
        if (!format.equals(m.format)) {
            throw new FgvcException(m.source + " describes a " + m.format + " artifact (" + m.modelFile
                    + "); this app runs " + format + " models: export with --format " + format);
        }
    }

    /**
     * @param in  the model's input tensor as the runtime reports it
     * @param out the model's output tensor as the runtime reports it
     * @param model the model file's name, for messages
     */
    public static ModelContract resolve(Manifest m, TensorInfo in, TensorInfo out, String model) {
        Manifest.Input mi = m.input;
        int size = m.preprocess.inputSize;
        int[] expected = mi.layout == Layout.NHWC ? new int[] {1, size, size, 3} : new int[] {1, 3, size, size};
        if (!Arrays.equals(mi.shape, expected)) {
            throw new FgvcException(m.source + ": input.shape " + Arrays.toString(mi.shape) + " disagrees with its layout "
                    + mi.layout + " and preprocess.input_size " + size + " (expected " + Arrays.toString(expected) + ")");
        }
        if (in.dtype == null) {
            throw new FgvcException(model + ": input tensor type " + in.dtypeName + " is not supported (float32, uint8, int8)");
        }
        if (in.dtype != mi.dtype) {
            throw new FgvcException(m.source + " says the input is " + mi.dtype.jsonName + " but " + model + " takes "
                    + in.dtype.jsonName + "; export the model and its manifest together");
        }
        if (!Arrays.equals(in.shape, expected)) {
            throw new FgvcException(model + " takes input shape " + Arrays.toString(in.shape) + " but " + m.source
                    + " describes " + Arrays.toString(expected) + " (" + mi.layout + ", input_size " + size + ")");
        }
        Quant inQuant = in.dtype.isInteger() ? reconcile(m, model, "input", mi.quant, in.quant) : null;
        InputFormat inputFormat = new InputFormat(mi.layout, mi.dtype, size, size, mi.normalizationInGraph, inQuant,
                m.preprocess.mean, m.preprocess.std);

        Manifest.Output mo = m.output;
        if (out.dtype == null) {
            throw new FgvcException(model + ": output tensor type " + out.dtypeName + " is not supported (float32, uint8, int8)");
        }
        if (out.dtype != mo.dtype) {
            throw new FgvcException(m.source + " says the output is " + mo.dtype.jsonName + " but " + model + " gives "
                    + out.dtype.jsonName + "; export the model and its manifest together");
        }
        int classes = out.shape.length == 0 ? 0 : out.shape[out.shape.length - 1];
        if (classes <= 0 || out.elementCount() != classes) {
            throw new FgvcException(model + ": output shape " + Arrays.toString(out.shape)
                    + " is not one row of class scores (expected [1, classes])");
        }
        if (m.labels.size() != classes) {
            throw new FgvcException(m.source + " lists " + m.labels.size() + " labels but " + model + " outputs "
                    + classes + " class scores; refusing to show wrong names. Export the model and its manifest together");
        }
        if (mo.shape[1] != classes || mo.shape[0] != 1) {
            throw new FgvcException(m.source + ": output.shape " + Arrays.toString(mo.shape) + " disagrees with "
                    + model + "'s " + Arrays.toString(out.shape));
        }
        Quant outQuant = out.dtype.isInteger() ? reconcile(m, model, "output", mo.quant, out.quant) : null;
        OutputFormat outputFormat = new OutputFormat(mo.dtype, classes, outQuant, mo.isLogits());
        return new ModelContract(inputFormat, outputFormat, m.labels);
    }

    private static Quant reconcile(Manifest m, String model, String which, Quant fromManifest, Quant fromModel) {
        if (fromManifest != null && fromModel != null && !fromManifest.agrees(fromModel)) {
            throw new FgvcException(m.source + " gives " + which + " quantization " + fromManifest + " but " + model
                    + " has " + fromModel + "; export the model and its manifest together");
        }
        return fromModel != null ? fromModel : fromManifest;
    }
}
