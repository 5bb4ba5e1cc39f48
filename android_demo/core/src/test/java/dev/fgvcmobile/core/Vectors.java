package dev.fgvcmobile.core;

import static org.junit.Assert.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Map;

/**
 * The Python-written test vectors (fgvc_mobile.export.android_vectors). Their folder comes from
 * the system property fgvc.vectors.dir, which run_jvm_tests.sh and the Gradle build set after
 * generating them; a missing folder fails the tests rather than skipping them.
 */
final class Vectors {
    private static Map<String, Object> index;

    private Vectors() {
    }

    static Path dir() {
        String p = System.getProperty("fgvc.vectors.dir");
        if (p == null || p.isEmpty()) {
            fail("system property fgvc.vectors.dir is not set: run android_demo/run_jvm_tests.sh "
                    + "(or python -m fgvc_mobile.export.android_vectors DIR and pass -Dfgvc.vectors.dir=DIR)");
        }
        Path d = Paths.get(p);
        if (!Files.isRegularFile(d.resolve("index.json"))) {
            fail(d + "/index.json is missing: generate the vectors first");
        }
        return d;
    }

    @SuppressWarnings("unchecked")
    static synchronized Map<String, Object> index() {
        if (index == null) {
            index = (Map<String, Object>) Json.parse(text("index.json"));
        }
        return index;
    }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> list(String key) {
        return (List<Map<String, Object>>) index().get(key);
    }

    static byte[] bytes(String rel) {
        try {
            return Files.readAllBytes(dir().resolve(rel));
        } catch (IOException e) {
            throw new AssertionError("cannot read vector file " + rel + ": " + e);
        }
    }

    static String text(String rel) {
        return new String(bytes(rel), StandardCharsets.UTF_8);
    }

    /** The decoded pixels of an image entry (straight RGBA dump), as the app would get them. */
    static RgbImage image(String imageRel) {
        for (Map<String, Object> e : list("images")) {
            if (e.get("file").equals(imageRel)) {
                int w = ((Long) e.get("width")).intValue();
                int h = ((Long) e.get("height")).intValue();
                return RgbImage.fromRgba(bytes((String) e.get("rgba")), w, h);
            }
        }
        throw new AssertionError("no image " + imageRel + " in index.json");
    }

    static Manifest manifest(String rel) {
        return Manifest.parse(text(rel), rel);
    }
}
