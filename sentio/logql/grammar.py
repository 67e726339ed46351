"""LogQL's grammar for lark (LALR): log queries, metric queries and binary expressions."""

from __future__ import annotations

RANGE_FNS = (
    "count_over_time",
    "rate_counter",
    "rate",
    "bytes_over_time",
    "bytes_rate",
    "absent_over_time",
    "sum_over_time",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "first_over_time",
    "last_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "quantile_over_time",
)
VECTOR_OPS = ("sum", "avg", "min", "max", "count", "stddev", "stdvar", "topk", "bottomk")
_PART = r"[0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h|d|w|y)"

_TEMPLATE = r"""
?start: expr | log_query

?expr: or_expr
?or_expr: and_expr | or_expr OR modifier and_expr -> binop
?and_expr: cmp_expr | and_expr (AND | UNLESS) modifier cmp_expr -> binop
?cmp_expr: add_expr | cmp_expr CMP_OP modifier add_expr -> binop
?add_expr: mul_expr | add_expr ADD_OP modifier mul_expr -> binop
?mul_expr: pow_expr | mul_expr MUL_OP modifier pow_expr -> binop
?pow_expr: unary | unary POW modifier pow_expr -> binop
?unary: atom | ADD_OP unary -> neg
?atom: metric
     | NUMBER -> number
     | "(" expr ")"

modifier: BOOL? matching?
matching: (ON | IGNORING) "(" [label_list] ")" group_modifier?
group_modifier: (GROUP_LEFT | GROUP_RIGHT) ("(" [label_list] ")")?

?metric: range_agg | vector_agg | vector_fn

range_agg: RANGE_FN "(" (NUMBER ",")? log_range ")" grouping?
log_range: selector pipeline range_spec
         | selector range_spec pipeline
         | "(" selector pipeline ")" range_spec
range_spec: RANGE offset?
offset: OFFSET DURATION

vector_agg: VECTOR_OP grouping? "(" (NUMBER ",")? expr ")" grouping?
          | VECTOR_OP "(" expr ")"
grouping: (BY | WITHOUT) "(" [label_list] ")"
label_list: label_name ("," label_name)*

vector_fn: VECTOR "(" NUMBER ")"
         | UNSUPPORTED_FN "(" _any_args ")"
_any_args: expr ("," (expr | STRING))*

log_query: selector pipeline

selector: "{" [matcher ("," matcher)*] "}"
matcher: label_name OP string

pipeline: stage*
?stage: line_filter
      | "|" parser_stage
      | "|" label_filter -> label_filter_stage
      | "|" LINE_FORMAT string -> line_format
      | "|" LABEL_FORMAT label_format_item ("," label_format_item)* -> label_format
      | "|" DROP drop_item ("," drop_item)* -> drop
      | "|" KEEP drop_item ("," drop_item)* -> keep
      | "|" DECOLORIZE -> decolorize
      | "|" UNWRAP unwrap_target -> unwrap
      | "|" DISTINCT label_list -> distinct

line_filter: LINE_OP line_value (OR line_value)*
?line_value: string | IP "(" string ")" -> ip_value

?parser_stage: JSON [extract_params] -> json_parser
             | LOGFMT parser_flag* [extract_params] -> logfmt_parser
             | REGEXP string -> regexp_parser
             | PATTERN string -> pattern_parser
             | UNPACK -> unpack_parser
extract_params: extract_param ("," extract_param)*
extract_param: label_name (OP string)?
parser_flag: FLAG

?label_filter: lf_or
?lf_or: lf_and | lf_or OR lf_and -> lf_or_expr
?lf_and: lf_atom | lf_and (AND | ",")? lf_atom -> lf_and_expr
?lf_atom: label_name OP lf_value -> lf_cmp
        | label_name OP IP "(" string ")" -> lf_ip
        | "(" label_filter ")"
?lf_value: string -> lf_string
         | NUMBER -> lf_number
         | DURATION -> lf_duration
         | BYTES -> lf_bytes
         | ADD_OP NUMBER -> lf_signed

label_format_item: label_name OP (label_name | string)
drop_item: label_name (OP string)?
unwrap_target: label_name
             | CONV_FN "(" label_name ")"

label_name: NAME | keyword_name
keyword_name: BY | WITHOUT | ON | IGNORING | BOOL | OFFSET | JSON | LOGFMT | REGEXP | PATTERN
            | UNPACK | DROP | KEEP | DECOLORIZE | UNWRAP | LINE_FORMAT | LABEL_FORMAT | IP
            | CONV_FN | VECTOR | DISTINCT

string: STRING | RAW_STRING

RANGE_FN.3: /(@RANGE_FNS@)(?=\s*\()/
VECTOR_OP.3: /(@VECTOR_OPS@|sort_desc|sort)(?=\s*(\(|by\b|without\b))/
UNSUPPORTED_FN.3: /(label_replace|absent|approx_topk)(?=\s*\()/
VECTOR.3: /vector(?=\s*\()/
CONV_FN.3: /(duration_seconds|duration|bytes)(?=\s*\()/
IP.3: /ip(?=\s*\()/
BY.2: /by(?![A-Za-z0-9_.])/
WITHOUT.2: /without(?![A-Za-z0-9_.])/
ON.2: /on(?![A-Za-z0-9_.])/
IGNORING.2: /ignoring(?![A-Za-z0-9_.])/
GROUP_LEFT.2: /group_left(?![A-Za-z0-9_.])/
GROUP_RIGHT.2: /group_right(?![A-Za-z0-9_.])/
BOOL.2: /bool(?![A-Za-z0-9_.])/
OFFSET.2: /offset(?![A-Za-z0-9_.])/
OR.2: /or(?![A-Za-z0-9_.])/
AND.2: /and(?![A-Za-z0-9_.])/
UNLESS.2: /unless(?![A-Za-z0-9_.])/
JSON.2: /json(?![A-Za-z0-9_.])/
LOGFMT.2: /logfmt(?![A-Za-z0-9_.])/
REGEXP.2: /regexp(?![A-Za-z0-9_.])/
PATTERN.2: /pattern(?![A-Za-z0-9_.])/
UNPACK.2: /unpack(?![A-Za-z0-9_.])/
DROP.2: /drop(?![A-Za-z0-9_.])/
KEEP.2: /keep(?![A-Za-z0-9_.])/
DECOLORIZE.2: /decolorize(?![A-Za-z0-9_.])/
UNWRAP.2: /unwrap(?![A-Za-z0-9_.])/
DISTINCT.2: /distinct(?![A-Za-z0-9_.])/
LINE_FORMAT.2: /line_format(?![A-Za-z0-9_.])/
LABEL_FORMAT.2: /label_format(?![A-Za-z0-9_.])/
FLAG: /--[a-z-]+/

OP: "==" | "=~" | "!~" | "!=" | ">=" | "<=" | ">" | "<" | "="
LINE_OP: "|=" | "!=" | "|~" | "!~" | "|>" | "!>"
CMP_OP: "==" | "!=" | ">=" | "<=" | ">" | "<"
ADD_OP: "+" | "-"
MUL_OP: "*" | "/" | "%"
POW: "^"

RANGE: /\[[^\]]*\]/
DURATION.4: /@PART@(@PART@)*(?![A-Za-z0-9_])/
BYTES.4: /[0-9]+(\.[0-9]+)?([KkMmGgTtPpEe][Ii]?[Bb]|[Bb])(?![A-Za-z0-9_])/
NUMBER: /0x[0-9a-fA-F]+|[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?|\.[0-9]+([eE][+-]?[0-9]+)?/
NAME: /[a-zA-Z_][a-zA-Z0-9_.]*/
STRING: /"(\\.|[^"\\])*"/
RAW_STRING: /`[^`]*`/

%import common.WS
%ignore WS
"""

GRAMMAR = (
    _TEMPLATE.replace("@RANGE_FNS@", "|".join(RANGE_FNS))
    .replace("@VECTOR_OPS@", "|".join(VECTOR_OPS))
    .replace("@PART@", _PART)
)
