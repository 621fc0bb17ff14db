set encoding utf8
set terminal svg size 1260,640 dynamic enhanced font 'DejaVu Sans,13' background rgb 'white'
set output 'latency.svg'
set grid xtics ytics mytics lc rgb '#dddddd'
set border lc rgb '#555555'
set multiplot layout 1,3 title "Latency percentiles per backend (lower is better; solid: asiocache, dashed: raw client)\n{/*0.75 mix get=90,set=10, 10000 keys (uniform), values 100 B, 1 thread(s)}"
set yrange [0.1:10000]
set logscale y
set ytics ('10 ns' 0.01, '100 ns' 0.1, '1 µs' 1, '10 µs' 10, '100 µs' 100, '1 ms' 1000, '10 ms' 10000, '100 ms' 100000, '1 s' 1e6, '10 s' 1e7)
set xtics ('p50' 0, 'p90' 1, 'p99' 2, 'p99.9' 3, 'max' 4)
set xrange [-0.3:4.3]
set xlabel 'percentile'
set ylabel 'latency (log scale)'
set bmargin 9
$l0_0 << EOD
0 0.441
1 0.875
2 1.279
3 2.023
4 363.899
EOD
$lb0_0 << EOD
0 0.171
1 0.451
2 0.891
3 1.935
4 709.482
EOD
$l0_1 << EOD
0 82.431
1 113.663
2 301.055
3 708.607
4 4050.825
EOD
$lb0_1 << EOD
0 70.655
1 91.135
2 143.359
3 321.535
4 2231.759
EOD
$l0_2 << EOD
0 80.895
1 122.367
2 335.871
3 880.639
4 5385.217
EOD
$lb0_2 << EOD
0 69.119
1 105.983
2 317.439
3 978.943
4 4176.406
EOD
set title 'concurrency 1'
set key at screen 0.02, screen 0.02 left bottom vertical Left reverse maxrows 4 noopaque font ',11'
plot $l0_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb0_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $l0_1 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#d62728' title 'redis://127.0.0.1:33036/0  asiocache', \
     $lb0_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:33036/0  raw hiredis pipelined', \
     $l0_2 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#2ca02c' title 'memcached://127.0.0.1:25699  asiocache', \
     $lb0_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:25699  raw libmemcached sync'
$l1_0 << EOD
0 0.381
1 0.775
2 1.183
3 1.927
4 179.266
EOD
$lb1_0 << EOD
0 0.16
1 0.311
2 0.563
3 0.855
4 106.798
EOD
$l1_1 << EOD
0 149.503
1 199.679
2 278.527
3 421.887
4 2731.77
EOD
$lb1_1 << EOD
0 173.055
1 219.135
2 272.383
3 382.975
4 1992.925
EOD
$l1_2 << EOD
0 105.983
1 195.583
2 309.247
3 448.511
4 3817.168
EOD
$lb1_2 << EOD
0 67.071
1 97.279
2 155.647
3 428.031
4 1889.471
EOD
set title 'concurrency 64'
unset key
plot $l1_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb1_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $l1_1 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#d62728' title 'redis://127.0.0.1:33036/0  asiocache', \
     $lb1_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:33036/0  raw hiredis pipelined', \
     $l1_2 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#2ca02c' title 'memcached://127.0.0.1:25699  asiocache', \
     $lb1_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:25699  raw libmemcached sync'
$l2_0 << EOD
0 0.22
1 0.471
2 0.923
3 1.527
4 1418.933
EOD
$lb2_0 << EOD
0 0.15
1 0.281
2 0.683
3 1.519
4 976.788
EOD
$l2_1 << EOD
0 798.719
1 1130.495
2 1466.367
3 2801.663
4 3766.183
EOD
$lb2_1 << EOD
0 712.703
1 921.599
2 1392.639
3 3276.799
4 4895.987
EOD
$l2_2 << EOD
0 978.943
1 1425.407
2 2768.895
3 4620.287
4 6860.064
EOD
$lb2_2 << EOD
0 69.119
1 103.423
2 264.191
3 737.279
4 3304.829
EOD
set title 'concurrency 512'
unset key
plot $l2_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb2_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $l2_1 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#d62728' title 'redis://127.0.0.1:33036/0  asiocache', \
     $lb2_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:33036/0  raw hiredis pipelined', \
     $l2_2 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#2ca02c' title 'memcached://127.0.0.1:25699  asiocache', \
     $lb2_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:25699  raw libmemcached sync'
unset multiplot
