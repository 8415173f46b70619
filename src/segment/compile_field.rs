//! Compiling field tests on customers and event properties: columns, JSON attributes, text
//! operators. See [`super::compile`] for the invariants (bound values, no NULL, byte order).

use super::ast::*;
use super::compile::{Bind, Compiler, Condition, Piece, Row, sql_op};
use crate::store::Dialect;

impl Compiler {
    pub(super) fn field_test(&mut self, test: &FieldTest, row: Row) {
        match &test.field {
            Field::Column(column) => self.column_test(*column, &test.test, row),
            Field::Json(key) => self.json_test(key, &test.test, row),
        }
    }

    pub(super) fn column_test(&mut self, column: Column, test: &Test, row: Row) {
        let col = format!("{}.{}", row.alias(), column.name());
        match test {
            Test::Exists => {
                self.out.sql(&format!("{col} IS NOT NULL"));
            }
            Test::Missing => {
                self.out.sql(&format!("{col} IS NULL"));
            }
            Test::Time(t) => {
                self.out.sql(&col);
                self.time_test(*t);
            }
            Test::Compare(op, value) => self.compare(&col, *op, value),
            Test::In(values) => self.any_of(values, |me, v| me.compare(&col, CmpOp::Eq, v)),
        }
    }

    pub(super) fn json_test(&mut self, key: &str, test: &Test, row: Row) {
        match test {
            Test::Exists | Test::Missing => {
                let not = if matches!(test, Test::Missing) {
                    "NOT "
                } else {
                    ""
                };
                self.out.sql(&format!("{not}COALESCE("));
                self.json_type(key, row);
                self.out.sql(" <> 'null', FALSE)");
            }
            Test::Compare(op, value) => self.json_compare(key, *op, value, row),
            Test::In(values) => {
                self.any_of(values, |me, v| me.json_compare(key, CmpOp::Eq, v, row))
            }
            Test::Time(_) => unreachable!("type checking refuses time tests on JSON values"),
        }
    }

    /// `(a OR b OR …)` over the values of an `in` list.
    pub(super) fn any_of(&mut self, values: &[Literal], mut each: impl FnMut(&mut Self, &Literal)) {
        self.out.sql("(");
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                self.out.sql(" OR ");
            }
            self.out.sql("(");
            each(self, value);
            self.out.sql(")");
        }
        self.out.sql(")");
    }

    /// The JSON type name of the value at `key`: SQLite's `json_type` or PostgreSQL's `jsonb_typeof`.
    pub(super) fn json_type(&mut self, key: &str, row: Row) {
        match self.dialect {
            Dialect::Sqlite => {
                self.out
                    .sql(&format!("json_type({}, ", row.json()))
                    .bind(sqlite_path(key))
                    .sql(")");
            }
            Dialect::Postgres => {
                self.out
                    .sql(&format!("jsonb_typeof({} -> ", row.json()))
                    .bind(Bind::Text(key.into()))
                    .sql(")");
            }
        }
    }

    /// The scalar at `key` as SQL text or number.
    pub(super) fn json_value(&mut self, key: &str, row: Row, number: bool) {
        match (self.dialect, number) {
            (Dialect::Sqlite, false) => {
                self.out
                    .sql(&format!("json_extract({}, ", row.json()))
                    .bind(sqlite_path(key))
                    .sql(")");
            }
            (Dialect::Sqlite, true) => {
                self.out
                    .sql(&format!("CAST(json_extract({}, ", row.json()))
                    .bind(sqlite_path(key))
                    .sql(") AS REAL)");
            }
            (Dialect::Postgres, _) => {
                self.out
                    .sql(&format!("({} ->> ", row.json()))
                    .bind(Bind::Text(key.into()))
                    .sql(")");
                if number {
                    self.out.sql("::float8");
                }
            }
        }
    }

    pub(super) fn json_compare(&mut self, key: &str, op: CmpOp, value: &Literal, row: Row) {
        let types = match (self.dialect, value) {
            (Dialect::Sqlite, Literal::Text(_)) => " = 'text'",
            (Dialect::Sqlite, Literal::Number(_)) => " IN ('integer', 'real')",
            (Dialect::Sqlite, Literal::Bool(_)) => " IN ('true', 'false')",
            (Dialect::Postgres, Literal::Text(_)) => " = 'string'",
            (Dialect::Postgres, Literal::Number(_)) => " = 'number'",
            (Dialect::Postgres, Literal::Bool(_)) => " = 'boolean'",
        };
        // On SQLite a text value is never `=` to a number, a boolean (0/1) or NULL, so text equality
        // needs no type test, and skipping it spares parsing the JSON twice.
        let plain_equality =
            self.dialect == Dialect::Sqlite && op == CmpOp::Eq && matches!(value, Literal::Text(_));
        if !plain_equality {
            self.json_type(key, row);
            self.out.sql(types).sql(" AND ");
        }
        match value {
            Literal::Bool(b) => {
                // SQLite's json_extract turns booleans into 0/1; its json_type names them exactly.
                match self.dialect {
                    Dialect::Sqlite => self.json_type(key, row),
                    Dialect::Postgres => self.json_value(key, row, false),
                }
                self.out
                    .sql(&format!(" {} ", sql_op(op)))
                    .bind(Bind::Text(b.to_string()));
            }
            Literal::Number(n) => {
                self.json_value(key, row, true);
                self.out
                    .sql(&format!(" {} ", sql_op(op)))
                    .bind(Bind::Number(*n));
            }
            Literal::Text(text) => {
                let mut value = Condition::default();
                std::mem::swap(&mut value, &mut self.out);
                self.json_value(key, row, false);
                std::mem::swap(&mut value, &mut self.out);
                self.text_compare(value.pieces, op, text);
            }
        }
    }

    pub(super) fn compare(&mut self, col: &str, op: CmpOp, value: &Literal) {
        match value {
            Literal::Text(text) => self.text_compare(vec![Piece::Sql(col.to_string())], op, text),
            Literal::Number(n) => {
                self.out
                    .sql(&format!("{col} {} ", sql_op(op)))
                    .bind(Bind::Number(*n));
            }
            Literal::Bool(_) => unreachable!("type checking refuses booleans on columns"),
        }
    }

    /// `subject OP text`, by bytes, where `subject` is SQL pieces yielding text.
    pub(super) fn text_compare(&mut self, subject: Vec<Piece>, op: CmpOp, text: &str) {
        let text = || Bind::Text(text.to_string());
        let pg = self.dialect == Dialect::Postgres;
        let put = |me: &mut Self| me.out.pieces.extend(subject.iter().cloned());
        match op {
            CmpOp::Contains => {
                self.out.sql(if pg { "strpos(" } else { "instr(" });
                put(self);
                self.out.sql(", ").bind(text()).sql(") > 0");
            }
            CmpOp::StartsWith => {
                self.out.sql("substr(");
                put(self);
                self.out
                    .sql(", 1, length(")
                    .bind(text())
                    .sql(")) = ")
                    .bind(text());
            }
            CmpOp::EndsWith => {
                self.out.sql("length(");
                put(self);
                self.out
                    .sql(") >= length(")
                    .bind(text())
                    .sql(") AND substr(");
                put(self);
                self.out.sql(", length(");
                put(self);
                self.out
                    .sql(") - length(")
                    .bind(text())
                    .sql(") + 1) = ")
                    .bind(text());
            }
            _ => {
                put(self);
                let collate = if pg && !op.is_equality() {
                    " COLLATE \"C\""
                } else {
                    ""
                };
                self.out
                    .sql(&format!("{collate} {} ", sql_op(op)))
                    .bind(text());
            }
        }
    }
}

/// SQLite's JSON path for a key: `$."key"` (keys are identifiers, so they need no escaping).
fn sqlite_path(key: &str) -> Bind {
    Bind::Text(format!("$.\"{key}\""))
}
