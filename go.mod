module github.com/tracebloc/edge

go 1.26.8
