// ParseSchema checks that Apache Avro for Java accepts catena-bridge's .avsc
// files as they are: the reference implementation, which Kafka Connect, Flink,
// Spark and the Confluent serializers use, must read what our Go codec writes.
//
// Usage (Java 17 single-file source launcher; avro-java.sh sets the classpath):
//
//   java -cp '.cache/avro-java/libs/*' ParseSchema.java schemas/vehicle_location.avsc [...]
//
// For each file it parses with default validation (names, defaults) on, fails
// on a union default that does not match the union's first branch (the spec's
// rule; Avro Java alone accepts any branch), fails on a logicalType that Java would silently ignore (for example
// timestamp-micros on an int, which readers would then see as a plain int),
// and prints one JSON line: full name, field count and the fingerprints of the
// Parsing Canonical Form (CRC-64-AVRO as used by single-object encoding, and
// SHA-256), so a Go test can compare them with its own.
//
// Exit status: 0 all files fine, 1 a file failed, 2 usage.
import java.io.File;
import java.security.MessageDigest;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

import org.apache.avro.AvroTypeException;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;

public class ParseSchema {
  public static void main(String[] args) throws Exception {
    if (args.length == 0) {
      System.err.println("usage: ParseSchema <file.avsc>...");
      System.exit(2);
    }
    int failed = 0;
    for (String path : args) {
      try {
        System.out.println(check(path));
      } catch (Exception e) {
        System.err.println("ParseSchema: " + path + ": " + e.getClass().getSimpleName() + ": " + e.getMessage());
        failed++;
      }
    }
    System.exit(failed == 0 ? 0 : 1);
  }

  static String check(String path) throws Exception {
    // A new parser per file: one Parser remembers names across parse calls.
    Schema s = new Schema.Parser().setValidateDefaults(true).parse(new File(path));
    List<String> ignored = new ArrayList<>();
    walk(s, s.getFullName(), ignored, new IdentityHashMap<>());
    if (!ignored.isEmpty()) {
      throw new IllegalArgumentException("logicalType ignored by Avro Java (invalid for its type): " + String.join(", ", ignored));
    }
    String canonical = SchemaNormalization.toParsingForm(s);
    long crc = SchemaNormalization.parsingFingerprint64(s);
    StringBuilder le = new StringBuilder();
    for (int i = 0; i < 8; i++) {
      le.append(String.format("%02x", (crc >>> (8 * i)) & 0xff));
    }
    byte[] sha = MessageDigest.getInstance("SHA-256").digest(canonical.getBytes(StandardCharsets.UTF_8));
    StringBuilder shaHex = new StringBuilder();
    for (byte b : sha) {
      shaHex.append(String.format("%02x", b));
    }
    int fields = s.getType() == Schema.Type.RECORD ? s.getFields().size() : 0;
    return String.format(
        "{\"file\":\"%s\",\"name\":\"%s\",\"type\":\"%s\",\"fields\":%d,"
            + "\"crc64_avro\":\"%016x\",\"crc64_avro_le\":\"%s\",\"sha256\":\"%s\"}",
        path.replace("\\", "\\\\").replace("\"", "\\\""), s.getFullName(), s.getType().getName(),
        fields, crc, le, shaHex);
  }

  // checkUnionDefault applies the spec's rule that a union field's default
  // must match the union's first branch. Avro Java's own default validation
  // accepts a default that matches any branch, but other readers (and Avro
  // Java's own resolving decoder when filling the default) use the first.
  static void checkUnionDefault(Schema.Field f, String where) {
    if (!f.hasDefaultValue() || f.schema().getType() != Schema.Type.UNION) {
      return;
    }
    Schema first = f.schema().getTypes().get(0);
    try {
      new Schema.Field(f.name(), first, null, f.defaultVal()); // validates the default
    } catch (AvroTypeException e) {
      throw new AvroTypeException(where + "." + f.name() + ": default " + f.defaultVal()
          + " does not match the union's first branch " + first.getType().getName());
    }
  }

  // walk records every schema that carries a logicalType property which Avro
  // Java did not turn into a LogicalType.
  static void walk(Schema s, String where, List<String> ignored, Map<Schema, Boolean> seen) {
    if (seen.put(s, Boolean.TRUE) != null) {
      return;
    }
    if (s.getProp("logicalType") != null && s.getLogicalType() == null) {
      ignored.add(where + " (" + s.getProp("logicalType") + " on " + s.getType().getName() + ")");
    }
    switch (s.getType()) {
      case RECORD:
        for (Schema.Field f : s.getFields()) {
          checkUnionDefault(f, where);
          walk(f.schema(), where + "." + f.name(), ignored, seen);
        }
        break;
      case UNION:
        for (Schema b : s.getTypes()) {
          walk(b, where, ignored, seen);
        }
        break;
      case ARRAY:
        walk(s.getElementType(), where + "[]", ignored, seen);
        break;
      case MAP:
        walk(s.getValueType(), where + "{}", ignored, seen);
        break;
      default:
    }
  }
}
