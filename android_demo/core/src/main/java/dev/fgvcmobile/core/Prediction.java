package dev.fgvcmobile.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/** One ranked class: index, label and score; plus the top-k rule and its display text. */
public final class Prediction {
    public final int index;
    public final String label;
    public final double score;

    public Prediction(int index, String label, double score) {
        this.index = index;
        this.label = label;
        this.score = score;
    }

    /**
     * Indices of the k largest values, largest first; equal values rank the lower index first
     * (quantized outputs tie often, and Python's vectors use the same rule). NaN ranks last.
     */
    public static int[] topIndices(double[] values, int k) {
        Integer[] idx = new Integer[values.length];
        for (int i = 0; i < idx.length; i++) {
            idx[i] = i;
        }
        Arrays.sort(idx, new Comparator<Integer>() {
            @Override
            public int compare(Integer a, Integer b) {
                int c = Double.compare(rankValue(values[b]), rankValue(values[a]));
                return c != 0 ? c : Integer.compare(a, b);
            }
        });
        int n = Math.min(k, values.length);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = idx[i];
        }
        return out;
    }

    private static double rankValue(double v) {
        return Double.isNaN(v) ? Double.NEGATIVE_INFINITY : v;
    }

    /** Top-k by {@code values} (ranking before softmax is exact), scored by {@code scores}. */
    public static List<Prediction> topK(double[] values, double[] scores, List<String> labels, int k) {
        if (values.length != labels.size() || scores.length != values.length) {
            throw new FgvcException(labels.size() + " labels for " + values.length + " class scores");
        }
        List<Prediction> out = new ArrayList<>();
        for (int i : topIndices(values, k)) {
            out.add(new Prediction(i, labels.get(i), scores[i]));
        }
        return out;
    }

    /** "1. label  87.3%" lines, one per prediction. */
    public static String format(List<Prediction> predictions) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < predictions.size(); i++) {
            Prediction p = predictions.get(i);
            b.append(String.format(Locale.ROOT, "%d. %s  %.1f%%", i + 1, p.label, 100.0 * p.score));
            if (i + 1 < predictions.size()) {
                b.append('\n');
            }
        }
        return b.toString();
    }

    /** "inference 12.3 ms · preprocess 4.5 ms" with one decimal, locale-independent. */
    public static String formatTimes(double inferenceMs, double preprocessMs) {
        return String.format(Locale.ROOT, "inference %.1f ms \u00b7 preprocess %.1f ms", inferenceMs, preprocessMs);
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%d:%s=%.6f", index, label, score);
    }
}
