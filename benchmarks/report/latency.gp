set encoding utf8
set terminal svg size 1260,640 dynamic enhanced font 'DejaVu Sans,13' background rgb 'white'
set output 'latency.svg'
set grid xtics ytics mytics lc rgb '#dddddd'
set border lc rgb '#555555'
set multiplot layout 1,3 title "Latency percentiles per backend (lower is better; solid: asiocache, dashed: raw client)\n{/*0.75 mix get=90,set=10, 10000 keys (uniform), values 100 B, 1 thread(s)}"
set yrange [0.1:100000]
set logscale y
set ytics ('10 ns' 0.01, '100 ns' 0.1, '1 µs' 1, '10 µs' 10, '100 µs' 100, '1 ms' 1000, '10 ms' 10000, '100 ms' 100000, '1 s' 1e6, '10 s' 1e7)
set xtics ('p50' 0, 'p90' 1, 'p99' 2, 'p99.9' 3, 'max' 4)
set xrange [-0.3:4.3]
set xlabel 'percentile'
set ylabel 'latency (log scale)'
set bmargin 9
$l0_0 << EOD
0 1.207
1 1.815
2 2.479
3 29.183
4 611.076
EOD
$lb0_0 << EOD
0 0.723
1 1.223
2 1.719
3 3.103
4 223.549
EOD
$l0_1 << EOD
0 55.551
1 76.287
2 272.383
3 522.239
4 3915.682
EOD
$lb0_1 << EOD
0 42.751
1 53.759
2 82.431
3 215.039
4 1568.541
EOD
$l0_2 << EOD
0 62.975
1 97.279
2 159.743
3 536.575
4 3911.435
EOD
$lb0_2 << EOD
0 33.791
1 44.799
2 77.311
3 485.375
4 4792.216
EOD
set title 'concurrency 1'
set key at screen 0.02, screen 0.02 left bottom vertical Left reverse maxrows 4 noopaque font ',11'
plot $l0_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb0_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $l0_1 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#d62728' title 'redis://127.0.0.1:20048/0  asiocache', \
     $lb0_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:20048/0  raw hiredis pipelined', \
     $l0_2 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#2ca02c' title 'memcached://127.0.0.1:42479  asiocache', \
     $lb0_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:42479  raw libmemcached sync'
$l1_0 << EOD
0 1.343
1 1.911
2 2.607
3 26.111
4 1003.111
EOD
$lb1_0 << EOD
0 0.843
1 1.327
2 1.823
3 19.455
4 1147.612
EOD
$l1_1 << EOD
0 217.087
1 282.623
2 372.735
3 753.663
4 2180.999
EOD
$lb1_1 << EOD
0 209.919
1 257.023
2 301.055
3 573.439
4 1963.902
EOD
$l1_2 << EOD
0 432.127
1 647.167
2 888.831
3 1392.639
4 3507.647
EOD
$lb1_2 << EOD
0 60.671
1 80.895
2 111.103
3 305.151
4 2933.08
EOD
set title 'concurrency 64'
unset key
plot $l1_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb1_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $l1_1 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#d62728' title 'redis://127.0.0.1:20048/0  asiocache', \
     $lb1_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:20048/0  raw hiredis pipelined', \
     $l1_2 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#2ca02c' title 'memcached://127.0.0.1:42479  asiocache', \
     $lb1_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:42479  raw libmemcached sync'
$l2_0 << EOD
0 1.215
1 1.791
2 2.527
3 28.159
4 337.062
EOD
$lb2_0 << EOD
0 0.643
1 1.159
2 1.679
3 2.783
4 554.92
EOD
$l2_1 << EOD
0 1695.743
1 2654.207
2 4390.911
3 6717.439
4 10636.966
EOD
$lb2_1 << EOD
0 1409.023
1 2007.039
2 3227.647
3 3883.007
4 5683.026
EOD
$l2_2 << EOD
0 6160.383
1 9306.111
2 12058.623
3 15990.783
4 20206.921
EOD
$lb2_2 << EOD
0 39.935
1 55.807
2 87.551
3 362.495
4 1765.641
EOD
set title 'concurrency 512'
unset key
plot $l2_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb2_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $l2_1 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#d62728' title 'redis://127.0.0.1:20048/0  asiocache', \
     $lb2_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:20048/0  raw hiredis pipelined', \
     $l2_2 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#2ca02c' title 'memcached://127.0.0.1:42479  asiocache', \
     $lb2_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:42479  raw libmemcached sync'
unset multiplot
