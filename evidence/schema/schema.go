// Package schema ships the JSON Schema (draft 2020-12) of report.json,
// edgelab.evidence.report/v2, so a reviewer's tool can validate a report
// without reading this module's Go types.
package schema

import _ "embed"

// ReportFile is the schema's file name beside this package.
const ReportFile = "report.schema.json"

// Report is evidence/schema/report.schema.json.
//
//go:embed report.schema.json
var Report []byte
