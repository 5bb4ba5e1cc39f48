@rem Gradle wrapper launcher for android_demo (minimal; `gradle wrapper` replaces it with Gradle's own).
@rem Needs gradle\wrapper\gradle-wrapper.jar: see README.md ("Getting the wrapper jar").
@echo off
setlocal
set APP_HOME=%~dp0
set JAR=%APP_HOME%gradle\wrapper\gradle-wrapper.jar
if not exist "%JAR%" (
  echo gradlew: %JAR% is missing. Run "gradle wrapper --gradle-version 8.14.3" in android_demo, or open it in Android Studio. 1>&2
  exit /b 1
)
set JAVACMD=java.exe
if defined JAVA_HOME set JAVACMD=%JAVA_HOME%\bin\java.exe
"%JAVACMD%" -Xmx64m -Xms64m %JAVA_OPTS% %GRADLE_OPTS% "-Dorg.gradle.appname=gradlew" -classpath "%JAR%" org.gradle.wrapper.GradleWrapperMain %*
exit /b %ERRORLEVEL%
