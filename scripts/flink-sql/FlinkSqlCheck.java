// FlinkSqlCheck parses every statement of Flink SQL files with Flink's own
// SQL parser (flink-sql-parser, FlinkSqlParserImpl) configured as Flink's
// table planner configures it: Flink's default conformance, Java lexing
// (backquoted identifiers, case kept), identifiers up to 256 characters.
// It checks syntax only: names and types are resolved by a planner, which
// needs the connectors; deploy/join_test.go checks the table definitions
// against callstream's schemas instead.
//
// Usage: java -cp 'libs/*' FlinkSqlCheck.java FILE...
// Prints one line per file, "ok FILE: N statements" or
// "FAIL FILE: statement N (line L, ...): error"; exits 1 if any file fails,
// 2 if a file cannot be read.
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.apache.calcite.config.Lex;
import org.apache.calcite.sql.parser.SqlParseException;
import org.apache.calcite.sql.parser.SqlParser;
import org.apache.flink.sql.parser.impl.FlinkSqlParserImpl;
import org.apache.flink.sql.parser.validate.FlinkSqlConformance;

public final class FlinkSqlCheck {
    /** One statement of a file: its text and the line its text starts on. */
    record Statement(String text, int startLine, int firstCodeLine, String head) {}

    public static void main(String[] args) {
        if (args.length == 0) {
            System.err.println("usage: FlinkSqlCheck FILE...");
            System.exit(2);
        }
        // As Flink's PlannerContext builds the parser for the default dialect.
        SqlParser.Config config = SqlParser.config()
                .withParserFactory(FlinkSqlParserImpl.FACTORY)
                .withConformance(FlinkSqlConformance.DEFAULT)
                .withLex(Lex.JAVA)
                .withIdentifierMaxLength(256);
        boolean failed = false;
        for (String file : args) {
            String sql;
            try {
                sql = Files.readString(Path.of(file), StandardCharsets.UTF_8);
            } catch (IOException e) {
                System.out.println("FAIL " + file + ": cannot read: " + e);
                System.exit(2);
                return;
            }
            List<Statement> stmts = split(sql);
            String error = null;
            if (stmts.isEmpty()) {
                error = "no statement";
            }
            for (int i = 0; i < stmts.size() && error == null; i++) {
                Statement s = stmts.get(i);
                try {
                    SqlParser.create(s.text(), config).parseStmt();
                } catch (SqlParseException e) {
                    String where = "line " + s.firstCodeLine();
                    if (e.getPos() != null && e.getPos().getLineNum() > 0) {
                        where = "line " + (s.startLine() + e.getPos().getLineNum() - 1)
                                + ", column " + e.getPos().getColumnNum();
                    }
                    error = "statement " + (i + 1) + " (starting line " + s.firstCodeLine() + ": "
                            + s.head() + "): " + where + ": " + brief(e.getMessage());
                } catch (RuntimeException | LinkageError e) {
                    error = "statement " + (i + 1) + " (starting line " + s.firstCodeLine() + ": "
                            + s.head() + "): parser failed: " + e;
                }
            }
            if (error != null) {
                failed = true;
                System.out.println("FAIL " + file + ": " + error);
            } else {
                System.out.println("ok " + file + ": " + stmts.size() + " statements");
            }
        }
        System.exit(failed ? 1 : 0);
    }

    /** The parser's message without its long "Was expecting one of" list, on one line. */
    static String brief(String msg) {
        if (msg == null) {
            return "parse error";
        }
        int cut = msg.indexOf("Was expecting");
        if (cut > 0) {
            msg = msg.substring(0, cut);
        }
        // The position it names is within the statement; main gives the file's.
        msg = msg.replaceAll("\\s*at line \\d+, column \\d+", "");
        return msg.replaceAll("\\s+", " ").trim();
    }

    /**
     * Splits a script at the semicolons outside string literals, quoted
     * identifiers and comments, as Flink's SQL client does, dropping pieces
     * that hold only whitespace and comments.
     */
    static List<Statement> split(String sql) {
        List<Statement> out = new ArrayList<>();
        int start = 0, line = 1, startLine = 1, codeLine = -1;
        int n = sql.length();
        for (int i = 0; i < n; i++) {
            char c = sql.charAt(i);
            if (c == '\n') {
                line++;
                continue;
            }
            if (c == '-' && i + 1 < n && sql.charAt(i + 1) == '-') {
                while (i + 1 < n && sql.charAt(i + 1) != '\n') {
                    i++;
                }
                continue;
            }
            if (c == '/' && i + 1 < n && sql.charAt(i + 1) == '*') {
                i += 2;
                while (i < n && !(sql.charAt(i) == '*' && i + 1 < n && sql.charAt(i + 1) == '/')) {
                    if (sql.charAt(i) == '\n') {
                        line++;
                    }
                    i++;
                }
                i++;
                continue;
            }
            if (Character.isWhitespace(c)) {
                continue;
            }
            if (c == ';') {
                add(out, sql.substring(start, i), startLine, codeLine);
                start = i + 1;
                startLine = line;
                codeLine = -1;
                continue;
            }
            if (codeLine < 0) {
                codeLine = line;
            }
            if (c == '\'' || c == '`' || c == '"') {
                // A doubled quote inside is an escaped one: the loop just
                // closes and reopens the literal.
                i++;
                while (i < n && sql.charAt(i) != c) {
                    if (sql.charAt(i) == '\n') {
                        line++;
                    }
                    i++;
                }
            }
        }
        add(out, sql.substring(start), startLine, codeLine);
        return out;
    }

    static void add(List<Statement> out, String text, int startLine, int codeLine) {
        if (codeLine < 0) {
            return;
        }
        String head = "";
        for (String l : text.split("\n")) {
            String t = l.trim();
            if (!t.isEmpty() && !t.startsWith("--")) {
                head = t.length() > 60 ? t.substring(0, 60) + "…" : t;
                break;
            }
        }
        out.add(new Statement(text, startLine, codeLine, head));
    }
}
