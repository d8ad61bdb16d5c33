# Reference values for canary/stats tests, computed with R's own implementations
# (wilcox.test, quantile type 7, mean, sd, median, rank) as an independent check of the Go code.
#
# Run from the repository root:  Rscript canary/testdata/reference.R > /tmp/reference.out
# It prints Go composite literals that were pasted into canary/stats/*_test.go.
# The Go tests never run R.

options(digits = 17)
# short gives the shortest decimal text that reads back as the same double.
short <- function(x) {
  if (is.na(x)) return("math.NaN()")
  for (d in 15:17) {
    s <- sprintf(paste0("%.", d, "g"), x)
    if (as.numeric(s) == x) return(s)
  }
  s
}
g <- function(v) {
  if (length(v) == 0) return("nil")
  s <- vapply(v, short, "")
  paste0("[]float64{", paste(s, collapse = ", "), "}")
}
num <- function(v) if (is.infinite(v)) (if (v > 0) "math.Inf(1)" else "math.Inf(-1)") else short(v)

# Deterministic series both R and Go can build bit for bit: integer arithmetic, then one
# correctly rounded division. Go has the same function (genSeries) in the tests.
gen <- function(n, mult, add, mod, div, offset) {
  i <- 0:(n - 1)
  ((i * mult + add) %% mod) / div + offset
}

kayenta_control <- c(
  1.5, 6.0, 5.0, 2.5, 2.5, 2.0, 2.0, 3.5, 3.0, 3.0, 3.0, 2.0, 3.0, 8.0, 4.0, 2.5, 3.0, 2.5, 2.5, 2.0,
  2.5, 2.0, 2.0, 2.5, 3.5, 3.0, 1.5, 5.0, 2.5, 5.5, 2.0, 2.5, 3.5, 2.0, 2.5, 4.0, 2.0, 2.0, 2.0, 2.0,
  5.5, 4.5, 4.0, 3.0, 3.0, 3.5, 2.5, 3.0, 2.5, 4.0, 6.0, 2.0, 5.0, 6.0, 3.5, 3.0, 54.5, 3.0, 5.0, 6.0,
  3.5, 4.5, 2.5, 2.0, 6.0, 5.0, 2.5, 3.5, 2.0, 3.0, 2.5, 3.5, 3.5, 2.5, 3.0, 4.5, 3.0, 15.5, 5.0, 2.5,
  3.0, 4.0, 3.5, 4.0, 4.0, 2.0, 4.5, 2.5, 4.0, 3.0)
kayenta_experiment <- c(
  2.5, 2.5, 2.0, 2.5, 3.5, 2.0, 3.5, 1.5, 3.0, 3.0, 2.5, 3.5, 2.0, 2.5, 2.0, 2.0, 5.0, 3.0, 2.0, 1.5,
  2.0, 4.0, 3.0, 2.5, 3.0, 2.0, 2.0, 2.0, 2.5, 3.5, 1.5, 1.5, 3.5, 2.0, 2.5, 2.5, 3.0, 3.5, 2.5, 6.5,
  2.5, 4.0, 2.5, 3.0, 2.5, 6.5, 2.5, 3.0, 1.5, 2.0, 2.5, 3.0, 7.5, 1.5, 2.0, 4.0, 2.5, 2.0, 2.5, 3.5,
  4.0, 2.5, 3.0, 2.5, 2.0, 3.5, 3.0, 16.5, 3.0, 3.0, 7.0, 4.5, 5.0, 2.0, 3.5, 6.0, 1.5, 3.0, 2.5, 4.0,
  3.0, 1.5, 5.0, 3.0, 2.5, 5.5, 3.0, 1.5, 2.5, 6.0)

base <- c(12.5, 10.25, 11.75, 13.5, 9.75, 12.0, 11.0, 10.5, 14.25, 12.75, 11.5, 10.0, 13.0, 12.25, 11.25,
          9.5, 13.75, 12.5, 10.75, 11.5)

# Each case: x is the experiment, y the control, as Kayenta's judge passes them.
cases <- list(
  list(name = "no ties", x = c(12.1, 14.3, 11.8, 15.2, 13.7, 12.9, 16.4, 13.1),
       y = c(10.2, 11.5, 12.4, 9.8, 11.1, 10.7, 12.0, 13.3, 10.9)),
  list(name = "ties", x = c(3, 4, 4, 5, 5, 5, 6, 7, 2, 4), y = c(2, 3, 3, 4, 4, 5, 1, 2, 3, 3, 4)),
  list(name = "shift by 5", x = base + 5, y = base),
  list(name = "shift by -0.5", x = base - 0.5, y = base),
  list(name = "identical samples", x = c(5.1, 4.9, 6.2, 5.8, 6.0, 5.5, 5.3), y = c(5.1, 4.9, 6.2, 5.8, 6.0, 5.5, 5.3)),
  list(name = "n=1 vs n=3", x = c(7), y = c(1, 2, 3)),
  list(name = "n=3 vs n=1", x = c(1, 2, 3), y = c(2.5)),
  list(name = "n=2 vs n=2", x = c(1.5, 2.5), y = c(1, 2)),
  list(name = "n=3 vs n=3", x = c(10, 12, 11), y = c(9, 8, 13)),
  list(name = "constant experiment", x = rep(5, 10), y = c(4, 5, 6, 5, 7, 3, 5, 6, 4, 5)),
  list(name = "constant control", x = c(4, 5, 6, 5, 7, 3, 5, 6, 4, 9), y = rep(2, 8)),
  list(name = "negative values", x = c(-3.2, -1.5, -2.8, -0.4, -2.2, -1.9), y = c(-1.1, 0.3, -0.7, 1.2, -0.2, 0.8, -0.5)),
  list(name = "mostly zeros", x = c(rep(0, 40), 1.2, 0.8, 2.5, 1.7), y = c(rep(0, 45), 0.9, 1.1)),
  list(name = "outlier in control", x = c(base, 11.0), y = c(base, 1000)),
  list(name = "large, ties, no shift",
       x = gen(1000, 7919, 13, 1009, 8, 3), gx = "genSeries(1000, 7919, 13, 1009, 8, 3)",
       y = gen(1000, 104729, 7, 1013, 8, 3), gy = "genSeries(1000, 104729, 7, 1013, 8, 3)"),
  list(name = "large, ties, small shift",
       x = gen(1000, 7919, 13, 1009, 8, 5), gx = "genSeries(1000, 7919, 13, 1009, 8, 5)",
       y = gen(1000, 104729, 7, 1013, 8, 3), gy = "genSeries(1000, 104729, 7, 1013, 8, 3)"),
  list(name = "large, distinct values, unequal sizes",
       x = gen(1000, 7919, 13, 1000003, 997, 0.25), gx = "genSeries(1000, 7919, 13, 1000003, 997, 0.25)",
       y = gen(1200, 104729, 7, 1000033, 997, 0), gy = "genSeries(1200, 104729, 7, 1000033, 997, 0)"),
  list(name = "Kayenta's R tie-out sample", x = kayenta_experiment, y = kayenta_control,
       gx = "kayentaExperiment", gy = "kayentaControl")
)

cat("// R: ", R.version.string, "\n", sep = "")
cat("// qnorm(0.01) = ", sprintf("%.17g", qnorm(0.01)), "  qnorm(0.025) = ", sprintf("%.17g", qnorm(0.025)), "\n", sep = "")
cat("\n// mannWhitneyCases\n")
for (cs in cases) {
  for (conf in c(0.98, 0.95)) {
    r <- suppressWarnings(wilcox.test(cs$x, cs$y, mu = 0, exact = FALSE, correct = TRUE,
                                      conf.int = TRUE, conf.level = conf))
    gx <- if (is.null(cs$gx)) g(cs$x) else cs$gx
    gy <- if (is.null(cs$gy)) g(cs$y) else cs$gy
    cat(sprintf("{name: %s, x: %s, y: %s, conf: %s,\n\tw: %s, p: %s, lower: %s, upper: %s, estimate: %s},\n",
                deparse(cs$name), gx, gy, num(conf), num(r$statistic), num(r$p.value),
                num(r$conf.int[1]), num(r$conf.int[2]), num(r$estimate)))
  }
}

# NaNs: wilcox.test drops them itself (x <- x[is.finite(x)]); the Go test removes them with RemoveNaN.
xn <- c(12.1, NA, 14.3, 11.8, NaN, 15.2, 13.7, 12.9, 16.4, 13.1, NA)
yn <- c(NaN, 10.2, 11.5, 12.4, 9.8, 11.1, 10.7, NA, 12.0, 13.3, 10.9)
r <- wilcox.test(xn, yn, exact = FALSE, correct = TRUE, conf.int = TRUE, conf.level = 0.98)
cat("\n// with NaNs\n")
cat(sprintf("x: %s\ny: %s\nw: %s, p: %s, lower: %s, upper: %s, estimate: %s\n", g(xn), g(yn),
            num(r$statistic), num(r$p.value), num(r$conf.int[1]), num(r$conf.int[2]), num(r$estimate)))

# Kayenta's IQR detector with reduced sensitivity: fences are min(P1, Q1 - k*IQR) and
# max(P99, Q3 + k*IQR), all percentiles by R's type 7.
fences <- function(v, k) {
  q <- quantile(v, c(0.01, 0.25, 0.75, 0.99), type = 7, names = FALSE)
  iqr <- q[3] - q[2]
  c(min(q[1], q[2] - k * iqr), max(q[4], q[3] + k * iqr))
}
cles <- function(control, experiment) {
  m <- length(experiment); n <- length(control)
  r <- rank(c(experiment, control))
  (2 * sum(r[1:m]) - m * (m + 1)) / (2 * n * m)
}

samples <- list(
  list(name = "spike", v = c(base, 250, -40)),
  list(name = "heavy tail", v = c(1, 1.1, 0.9, 1.05, 0.95, 1.2, 0.8, 1.02, 0.98, 30, 1.01, 0.99, 25, 1.03)),
  list(name = "negative", v = c(-3.2, -1.5, -2.8, -0.4, -2.2, -1.9, -25, -2.0)),
  list(name = "two values", v = c(1, 100)),
  list(name = "one value", v = c(42)),
  list(name = "constant", v = rep(7.5, 9)),
  list(name = "large", v = gen(1000, 104729, 7, 1013, 8, 3), gv = "genSeries(1000, 104729, 7, 1013, 8, 3)")
)
cat("\n// describeCases\n")
for (s in samples) {
  v <- s$v
  gv <- if (is.null(s$gv)) g(v) else s$gv
  q <- quantile(v, c(0.01, 0.25, 0.5, 0.75, 0.99), type = 7, names = FALSE)
  sdv <- if (length(v) > 1) sd(v) else 0
  f3 <- fences(v, 3); f15 <- fences(v, 1.5)
  kept3 <- v[v >= f3[1] & v <= f3[2]]
  kept15 <- v[v >= f15[1] & v <= f15[2]]
  cat(sprintf("{name: %s, v: %s,\n\tmean: %s, stdev: %s, median: %s, min: %s, max: %s,\n\tq: [5]float64{%s},\n\tfence3: [2]float64{%s}, kept3: %d, fence15: [2]float64{%s}, kept15: %d},\n",
              deparse(s$name), gv, num(mean(v)), num(sdv), num(median(v)), num(min(v)), num(max(v)),
              paste(sapply(q, num), collapse = ", "),
              paste(sapply(f3, num), collapse = ", "), length(kept3),
              paste(sapply(f15, num), collapse = ", "), length(kept15)))
}

cat("\n// effectSizeCases\n")
for (cs in cases) {
  mr <- if (mean(cs$y) == 0 || mean(cs$x) == 0) NaN else mean(cs$x) / mean(cs$y)
  gx <- if (is.null(cs$gx)) g(cs$x) else cs$gx
  gy <- if (is.null(cs$gy)) g(cs$y) else cs$gy
  cat(sprintf("{name: %s, experiment: %s, control: %s, meanRatio: %s, cles: %s},\n",
              deparse(cs$name), gx, gy, if (is.nan(mr)) "math.NaN()" else num(mr), num(cles(cs$y, cs$x))))
}
