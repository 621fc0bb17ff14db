set encoding utf8
set terminal svg size 960,600 dynamic enhanced font 'DejaVu Sans,13' background rgb 'white'
set output 'throughput.svg'
set grid xtics ytics mytics lc rgb '#dddddd'
set border lc rgb '#555555'
set title "Throughput against concurrency (higher is better; solid: asiocache, dashed: raw client)\n{/*0.75 mix get=90,set=10, 10000 keys (uniform), values 100 B, 1 thread(s)}"
set xlabel 'concurrency: operations in flight (log scale)'
set ylabel 'throughput: operations per second (log scale)'
set logscale xy
set format y '%.0s%c'
set bmargin 8
set key at screen 0.02, screen 0.02 left bottom vertical Left reverse maxrows 3 noopaque font ',11'
set xtics (1, 64, 512)
set xrange [0.6666666666666666:768]
$t0 << EOD
1 4383445.08639926
64 1451880.668232484
512 4139019.2242656145
EOD
$b0 << EOD
1 5110443.507693943
64 2794529.4697190886
512 4393881.627105709
EOD
$t1 << EOD
1 12354.410720339774
64 305817.2336321562
512 365672.06684036617
EOD
$b1 << EOD
1 13854.97310403263
64 232499.6143580438
512 639765.237599984
EOD
$t2 << EOD
1 12305.575658730953
64 360026.8269433806
512 631365.0342103917
EOD
$b2 << EOD
1 12524.127490948602
64 14168.452222419462
512 13365.999135665388
EOD
plot $t0 using 1:2 with linespoints lw 2.5 pt 7 ps 1.2 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $b0 using 1:2 with linespoints lw 2 dt 2 pt 6 ps 1.2 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $t1 using 1:2 with linespoints lw 2.5 pt 7 ps 1.2 lc rgb '#d62728' title 'redis://127.0.0.1:32229/0  asiocache', \
     $b1 using 1:2 with linespoints lw 2 dt 2 pt 6 ps 1.2 lc rgb '#d62728' title 'redis://127.0.0.1:32229/0  raw hiredis pipelined', \
     $t2 using 1:2 with linespoints lw 2.5 pt 7 ps 1.2 lc rgb '#2ca02c' title 'memcached://127.0.0.1:27263  asiocache', \
     $b2 using 1:2 with linespoints lw 2 dt 2 pt 6 ps 1.2 lc rgb '#2ca02c' title 'memcached://127.0.0.1:27263  raw libmemcached sync'
