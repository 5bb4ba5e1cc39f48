package dev.fgvcmobile.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Typed, validated view of an exported artifact's manifest (export/manifest.schema.json, v1).
 * Every check names the manifest and the offending field, because the app shows it as is.
 */
public final class Manifest {
    public final String source;
    public final String modelFile;
    public final String format;
    public final String precision;
    public final String method;
    public final String inferenceRule;
    public final List<String> labels;
    /** Optional: the labels file the asset step writes beside the manifest (one label a line). */
    public final String labelsFile;
    public final Input input;
    public final Output output;
    public final Preprocess preprocess;
    /**
     * Backbone runs inside the model's one graph (manifest {@code pipeline.backbone_passes}, 1 when
     * absent). CMAL-Net's fusion is 2: the attention crop and the second pass are in the graph,
     * so the app feeds one image and reads one output either way; latency covers both passes.
     */
    public final int backbonePasses;

    /** How the model takes its image. */
    public static final class Input {
        public final String name;
        public final Layout layout;
        public final DType dtype;
        public final int[] shape;
        /** true: feed raw 0..255 values, the graph normalises; false: feed (x/255 - mean)/std. */
        public final boolean normalizationInGraph;
        public final Quant quant;

        Input(String name, Layout layout, DType dtype, int[] shape, boolean normalizationInGraph, Quant quant) {
            this.name = name;
            this.layout = layout;
            this.dtype = dtype;
            this.shape = shape;
            this.normalizationInGraph = normalizationInGraph;
            this.quant = quant;
        }
    }

    /** What the model's output holds. */
    public static final class Output {
        public final String name;
        public final DType dtype;
        public final int[] shape;
        /** "logits" (softmax gives the scores) or "probabilities" (already scores). */
        public final String kind;
        public final Quant quant;

        Output(String name, DType dtype, int[] shape, String kind, Quant quant) {
            this.name = name;
            this.dtype = dtype;
            this.shape = shape;
            this.kind = kind;
            this.quant = quant;
        }

        public boolean isLogits() {
            return "logits".equals(kind);
        }
    }

    /** The one preprocessing config (fgvc_mobile/data/preprocess.py PreprocessConfig). */
    public static final class Preprocess {
        public final int inputSize;
        public final int resizeH;
        public final int resizeW;
        public final float[] mean;
        public final float[] std;
        public final PillowResize.Filter interpolation;

        public Preprocess(int inputSize, int resizeH, int resizeW, float[] mean, float[] std,
                          PillowResize.Filter interpolation) {
            this.inputSize = inputSize;
            this.resizeH = resizeH;
            this.resizeW = resizeW;
            this.mean = mean.clone();
            this.std = std.clone();
            this.interpolation = interpolation;
        }
    }

    private Manifest(String source, Map<String, Object> m) {
        this.source = source;
        Fields f = new Fields(source, m, "");
        long version = f.integer("schema_version");
        if (version != 1) {
            throw new FgvcException(source + ": schema_version " + version + " is not supported (this app reads 1)");
        }
        modelFile = f.string("model_file");
        format = f.oneOf("format", "onnx", "tflite", "coreml", "torchscript");
        precision = f.oneOf("precision", "fp32", "fp16", "int8", "w8a8", "int8-weights");
        method = f.string("method");
        inferenceRule = f.string("inference_rule");
        List<Object> rawLabels = f.list("labels");
        if (rawLabels.isEmpty()) {
            throw new FgvcException(source + ": labels is empty");
        }
        List<String> ls = new ArrayList<>();
        for (int i = 0; i < rawLabels.size(); i++) {
            Object o = rawLabels.get(i);
            if (!(o instanceof String)) {
                throw new FgvcException(source + ": labels[" + i + "] must be a string");
            }
            ls.add((String) o);
        }
        labels = Collections.unmodifiableList(ls);
        labelsFile = f.has("labels_file") ? f.string("labels_file") : null;
        long passes = f.has("pipeline") ? f.object("pipeline").integer("backbone_passes") : 1;
        if (passes < 1) {
            throw new FgvcException(source + ": pipeline.backbone_passes must be >= 1, got " + passes);
        }
        backbonePasses = (int) passes;

        Fields in = f.object("input");
        Layout layout = Layout.valueOf(in.oneOf("layout", "NHWC", "NCHW"));
        DType inType = DType.fromName(in.oneOf("dtype", "uint8", "int8", "float32", "float16"));
        in.oneOf("color", "RGB");
        input = new Input(in.string("name"), layout, inType, in.ints("shape", 4),
                in.bool("normalization_in_graph"), in.quant("quantization"));

        Fields out = f.object("output");
        DType outType = DType.fromName(out.oneOf("dtype", "uint8", "int8", "float32", "float16"));
        output = new Output(out.string("name"), outType, out.ints("shape", 2),
                out.oneOf("kind", "logits", "probabilities"), out.quant("quantization"));

        Fields pre = f.object("preprocess");
        int size = (int) pre.integer("input_size");
        int rh;
        int rw;
        if (pre.get("resize") instanceof List) {
            int[] r = pre.ints("resize", 2);
            rh = r[0];
            rw = r[1];
        } else {
            // an int is a square (H, W) = (r, r): PreprocessConfig.resize_hw, which the transforms use
            rh = (int) pre.integer("resize");
            rw = rh;
        }
        float[] mean = pre.floats("mean", 3);
        float[] std = pre.floats("std", 3);
        String interp = pre.oneOf("interpolation", "bilinear", "bicubic", "nearest");
        if (size <= 0) {
            throw new FgvcException(source + ": preprocess.input_size must be positive, got " + size);
        }
        if (Math.min(rh, rw) < size) {
            throw new FgvcException(source + ": preprocess.resize " + rh + "x" + rw
                    + " is smaller than input_size " + size);
        }
        for (float s : std) {
            if (!(s > 0f)) {
                throw new FgvcException(source + ": preprocess.std values must be > 0");
            }
        }
        preprocess = new Preprocess(size, rh, rw, mean, std, PillowResize.Filter.valueOf(interp.toUpperCase(Locale.ROOT)));
    }

    /**
     * Refuse a labels file (one label a line, as the asset step writes it) that disagrees with
     * the manifest's labels: a stale labels.txt beside a new model would mislabel silently.
     */
    public void checkLabelsFile(String text, String fileName) {
        String[] lines = text.split("\n", -1);
        int n = lines.length;
        if (n > 0 && lines[n - 1].isEmpty()) {
            n--; // the final newline
        }
        if (n != labels.size()) {
            throw new FgvcException(fileName + " has " + n + " labels but " + source + " lists " + labels.size()
                    + "; copy both with the asset step again");
        }
        for (int i = 0; i < n; i++) {
            String line = lines[i].endsWith("\r") ? lines[i].substring(0, lines[i].length() - 1) : lines[i];
            if (!line.equals(labels.get(i))) {
                throw new FgvcException(fileName + " line " + (i + 1) + " is '" + line + "' but " + source
                        + " says '" + labels.get(i) + "'; copy both with the asset step again");
            }
        }
    }

    /** Parse and validate manifest JSON text; {@code source} names it in every error message. */
    @SuppressWarnings("unchecked")
    public static Manifest parse(String json, String source) {
        Object root;
        try {
            root = Json.parse(json);
        } catch (FgvcException e) {
            throw new FgvcException(source + ": " + e.getMessage());
        }
        if (!(root instanceof Map)) {
            throw new FgvcException(source + ": a manifest must be a JSON object");
        }
        return new Manifest(source, (Map<String, Object>) root);
    }

    /** Typed access to one JSON object, with errors that name the file and the field path. */
    private static final class Fields {
        private final String source;
        private final Map<String, Object> m;
        private final String prefix;

        Fields(String source, Map<String, Object> m, String prefix) {
            this.source = source;
            this.m = m;
            this.prefix = prefix;
        }

        private FgvcException bad(String key, String what) {
            return new FgvcException(source + ": " + prefix + key + " " + what);
        }

        boolean has(String key) {
            return m.containsKey(key) && m.get(key) != null;
        }

        Object get(String key) {
            if (!m.containsKey(key)) {
                throw bad(key, "is missing");
            }
            return m.get(key);
        }

        String string(String key) {
            Object v = get(key);
            if (!(v instanceof String)) {
                throw bad(key, "must be a string");
            }
            return (String) v;
        }

        String oneOf(String key, String... allowed) {
            String v = string(key);
            for (String a : allowed) {
                if (a.equals(v)) {
                    return v;
                }
            }
            throw bad(key, "must be one of " + String.join(", ", allowed) + ", got '" + v + "'");
        }

        boolean bool(String key) {
            Object v = get(key);
            if (!(v instanceof Boolean)) {
                throw bad(key, "must be true or false");
            }
            return (Boolean) v;
        }

        long integer(String key) {
            Object v = get(key);
            if (!(v instanceof Long)) {
                throw bad(key, "must be an integer");
            }
            return (Long) v;
        }

        @SuppressWarnings("unchecked")
        List<Object> list(String key) {
            Object v = get(key);
            if (!(v instanceof List)) {
                throw bad(key, "must be an array");
            }
            return (List<Object>) v;
        }

        @SuppressWarnings("unchecked")
        Fields object(String key) {
            Object v = get(key);
            if (!(v instanceof Map)) {
                throw bad(key, "must be an object");
            }
            return new Fields(source, (Map<String, Object>) v, prefix + key + ".");
        }

        int[] ints(String key, int n) {
            List<Object> a = list(key);
            if (a.size() != n) {
                throw bad(key, "must have " + n + " integers, got " + a.size());
            }
            int[] r = new int[n];
            for (int i = 0; i < n; i++) {
                Object o = a.get(i);
                if (!(o instanceof Long) || (Long) o < Integer.MIN_VALUE || (Long) o > Integer.MAX_VALUE) {
                    throw bad(key, "must hold integers");
                }
                r[i] = (int) (long) (Long) o;
            }
            return r;
        }

        float[] floats(String key, int n) {
            List<Object> a = list(key);
            if (a.size() != n) {
                throw bad(key, "must have " + n + " numbers, got " + a.size());
            }
            float[] r = new float[n];
            for (int i = 0; i < n; i++) {
                Object o = a.get(i);
                if (!(o instanceof Number)) {
                    throw bad(key, "must hold numbers");
                }
                r[i] = (float) ((Number) o).doubleValue();
            }
            return r;
        }

        Quant quant(String key) {
            if (!has(key)) {
                return null;
            }
            Fields q = object(key);
            Object scale = q.get("scale");
            if (!(scale instanceof Number)) {
                throw q.bad("scale", "must be a number");
            }
            float s = (float) ((Number) scale).doubleValue();
            if (s == 0f) {
                return null; // how a converter spells "not quantized"
            }
            try {
                return new Quant(s, (int) q.integer("zero_point"));
            } catch (FgvcException e) {
                throw bad(key, e.getMessage());
            }
        }
    }
}
