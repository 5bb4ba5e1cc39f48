package dev.fgvcmobile.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class JsonTest {

    @Test
    @SuppressWarnings("unchecked")
    public void parsesEveryValueKind() {
        Object v = Json.parse(" {\"a\": [1, -2.5e2, 0.125, true, false, null], \"b\": {\"c\": \"x\"}, \"big\": 12345678901234567890} ");
        Map<String, Object> m = (Map<String, Object>) v;
        List<Object> a = (List<Object>) m.get("a");
        assertEquals(1L, a.get(0));
        assertEquals(-250.0, (Double) a.get(1), 0.0);
        assertEquals(0.125, (Double) a.get(2), 0.0);
        assertEquals(Boolean.TRUE, a.get(3));
        assertEquals(Boolean.FALSE, a.get(4));
        assertNull(a.get(5));
        assertEquals("x", ((Map<String, Object>) m.get("b")).get("c"));
        assertEquals(1.2345678901234567e19, (Double) m.get("big"), 1e4);
    }

    @Test
    public void decodesEscapesAndSurrogatePairs() {
        assertEquals("q\"\\/\b\f\n\r\t\u00e9\uD83D\uDC26", Json.parse("\"q\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\udc26\""));
    }

    @Test
    public void duplicateKeyKeepsTheLastValueLikePython() {
        assertEquals(2L, ((Map<?, ?>) Json.parse("{\"k\": 1, \"k\": 2}")).get("k"));
    }

    @Test
    public void rejectsMalformedText() {
        for (String bad : Arrays.asList("", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "1e", "NaN", "[1] x",
                "\"unterminated", "\"\\x\"", "{'a': 1}", "tru", "\"a\nb\"", "\"\\u12\"")) {
            FgvcException e = assertThrows(bad, FgvcException.class, () -> Json.parse(bad));
            assertTrue(e.getMessage(), e.getMessage().startsWith("invalid JSON at line"));
        }
    }

    @Test
    public void errorNamesLineAndColumn() {
        FgvcException e = assertThrows(FgvcException.class, () -> Json.parse("{\n  \"a\": tru\n}"));
        assertTrue(e.getMessage(), e.getMessage().contains("line 2, column 8"));
    }

    @Test
    public void refusesHostileNesting() {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 10000; i++) {
            b.append('[');
        }
        assertThrows(FgvcException.class, () -> Json.parse(b.toString()));
    }

    @Test
    public void writeThenParseRoundTrips() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("s", "t\u00e4b\there \"quoted\" \u0001");
        m.put("i", 42);
        m.put("d", 1.0e-7);
        m.put("l", Arrays.asList(1L, 2.5, null, true));
        m.put("empty", new LinkedHashMap<String, Object>());
        String text = Json.write(m);
        @SuppressWarnings("unchecked")
        Map<String, Object> back = (Map<String, Object>) Json.parse(text);
        assertEquals(m.get("s"), back.get("s"));
        assertEquals(42L, back.get("i"));
        assertEquals(1.0e-7, (Double) back.get("d"), 0.0);
        assertEquals(Arrays.asList(1L, 2.5, null, true), back.get("l"));
        assertEquals(new LinkedHashMap<String, Object>(), back.get("empty"));
        assertEquals(Arrays.asList("s", "i", "d", "l", "empty"), Arrays.asList(back.keySet().toArray()));
    }

    @Test
    public void nonFiniteNumbersAreWrittenAsNull() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("nan", Double.NaN);
        m.put("inf", Double.POSITIVE_INFINITY);
        Map<?, ?> back = (Map<?, ?>) Json.parse(Json.write(m));
        assertNull(back.get("nan"));
        assertNull(back.get("inf"));
        assertTrue(back.containsKey("nan"));
    }
}
